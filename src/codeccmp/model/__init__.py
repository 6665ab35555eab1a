"""The data model the parts exchange: codec specs (``NAME[opt=val]``), loaded images,
results and their JSON, and the output transaction that writes them all or none.

Plain data and file handling only: nothing here measures, searches or renders, so every
other part may import it and it imports none of them.
"""
