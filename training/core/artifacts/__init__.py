"""The one owner of the on-disk format: the layout of a suite, atomic I/O, typed records.

`schema` knows every path and file of the layout and reads and writes them; `records` holds the
typed records (manifest, metrics index, phase windows, claims, report) and their JSON form.
"""
