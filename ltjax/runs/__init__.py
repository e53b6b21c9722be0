"""What runs leave behind and how it is read back: the results writer, the feature cache, the
finished-run loader, the report and its plots."""
