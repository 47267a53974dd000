"""The household ledger (户籍/民情台账): households, residents, categories, units, contact links."""
