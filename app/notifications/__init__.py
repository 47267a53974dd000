"""In-app messages to users (消息): the areas above send them; the bell in the top bar counts them."""
