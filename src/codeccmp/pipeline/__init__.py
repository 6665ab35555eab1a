"""The comparison pipeline: pick codecs, search each one's parameter to a target rate
(:mod:`.ratematch`) or quality (:mod:`.qualitymatch`), decode, measure (:mod:`.analysis`),
and rebuild saved results for reports. Plain functions over dataclasses, usable from Python;
the CLI and the sweep drive it.
"""
