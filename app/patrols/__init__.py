"""Patrols (巡查) and hazards (隐患): frequencies, records on the phone, rectification until 销号."""
