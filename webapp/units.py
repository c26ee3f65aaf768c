"""Units of measure, written once: every `*_MB` setting and every buffer size is counted in these."""

MEGABYTE = 1024 * 1024
