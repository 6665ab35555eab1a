"""Rate–distortion sweeps: targets × images × codecs as tasks (:mod:`.tasks`), run in
processes or on Ray (:mod:`.executors`) through a result cache (:mod:`.cache`), then
averaged (:mod:`.average`), BD-measured (:mod:`.bd`) and exported (:mod:`.export`).
:mod:`.runner` plans and drives; :mod:`.results` is the sweep's JSON/CSV form.
"""
