# NatronRenderer graph: past-frame inputs in a real OpenFX host (issue #15 part 3).
#   ReadPNG(HIST_DIR/in.####.png) -> org.wick.debug-history -> WritePNG(HIST_DIR/out_#.png)
# The test node (listed with WICK_ENABLE_TEST_NODES=1) outputs the mean of the source and the
# past frames it was given (source@-1, source@-2). Run, with grey frames in.0001..0004.png of
# values 10, 20, 60, 100:
#   WICK_ENABLE_TEST_NODES=1 HIST_DIR=DIR OFX_PLUGIN_PATH=target/ofx \
#     NatronRenderer -w HistWriter 1-4 scripts/hosts/natron_past_frames.py
# NatronRenderer 2.5 gave frames 2-4 = 15, 30, 60 (mean of 20,10; 60,20,10; 100,60,20): it
# asks for and delivers the past frames. (Its first rendered frame is transparent black in
# every multi-frame render, without Wick too: ReadPNG -> WritePNG alone does the same.)
# wick_float_input = sRGB: this Natron build's PNG reader gives sRGB-encoded float values.
import os, NatronEngine
d = os.environ["HIST_DIR"]
r = app.createNode("fr.inria.openfx.ReadPNG"); r.setScriptName("Reader")
r.getParam("filename").setValue(d + "/in.####.png")
h = app.createNode("org.wick.debug-history"); h.setScriptName("Hist"); h.connectInput(0, r)
h.getParam("wick_float_input").setValue(2)
w = app.createNode("fr.inria.openfx.WritePNG"); w.setScriptName("HistWriter")
w.getParam("filename").setValue(d + "/out_#.png"); w.connectInput(0, h)
