"""What a run produces: what the stages report (outcomes), the consumer's verdict (consumer), the
files written atomically (writes), coverage as data (coverage) and what blocks scoring (todo)."""
