"""Full-reference measurements on pixels: PSNR, SSIM and MS-SSIM (tiled, memory-bounded).

The stripe analysis (:mod:`codeccmp.stripes`) is the other half of this layer. Measures know
nothing of codecs, searches or rendering, so they can be checked against their definitions
alone.
"""
