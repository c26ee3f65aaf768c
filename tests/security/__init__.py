"""`make scan`: wapiti and sqlmap against a throwaway, signed-in instance of the app (see scan.py)."""
