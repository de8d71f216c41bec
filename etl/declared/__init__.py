"""What users and the mapping files declare, read, checked and compiled once: the config, the
mappings (sources, identities, listings, evidence rules, transforms), the sources of a run, the pins
and the hand-entered values; and the file reading and schema checks they all use."""
