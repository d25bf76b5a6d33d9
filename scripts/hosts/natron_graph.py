# NatronRenderer graph: every Wick node in Natron, next to Natron's own read -> write round trip.
# Used by scripts/real-hosts.sh (results in docs/hosts.md). Env:
#   WICK_IN     input PNG sequence pattern, e.g. /tmp/x/in.####.png (frames 1..3)
#   WICK_OUT    output folder
#   WICK_FLOAT  optional: the Wick nodes' "Float input is" (wick_float_input) choice index,
#               0 auto, 1 linear, 2 sRGB, 3 as is (unset: the param's default, auto)
# Writers (render one with -w NAME 1-1):
#   RoundWriter   Reader -> WritePNG                         (Natron alone)
#   StyleWriter   Reader -> org.wick.style-transfer -> WritePNG
#   GenWriter     org.wick.generate -> WritePNG              (project format, 1920x1080)
#   InterpWriter  Reader -> org.wick.interpolate (retime, t=0.5: frames f, f+1) -> WritePNG
#   TrainWriter   Reader -> org.wick.train (shows its input until a run) -> WritePNG
import os
import NatronEngine

src = os.environ["WICK_IN"]
out = os.environ["WICK_OUT"]
flt = os.environ.get("WICK_FLOAT", "")
ids = NatronEngine.natron.getPluginIDs()
print("NATRON_WICK_PLUGINS " + " ".join(sorted(i for i in ids if "wick" in i.lower())))


def writer(name, node, pattern, input_format=True):
    w = app.createNode("fr.inria.openfx.WritePNG")
    w.setScriptName(name)
    w.getParam("filename").setValue(out + "/" + pattern)
    if input_format:
        w.getParam("formatType").setValue(0)  # the input's format, not the project's
    w.connectInput(0, node)
    return w


def wick(plugin, name):
    n = app.createNode(plugin)
    n.setScriptName(name)
    if flt != "":
        n.getParam("wick_float_input").setValue(int(flt))
    return n


r = app.createNode("fr.inria.openfx.ReadPNG")
r.setScriptName("Reader")
r.getParam("filename").setValue(src)
writer("RoundWriter", r, "round_#.png")

st = wick("org.wick.style-transfer", "Style")
st.connectInput(0, r)
writer("StyleWriter", st, "style_#.png")

g = wick("org.wick.generate", "Gen")
writer("GenWriter", g, "gen_#.png", input_format=False)

it = wick("org.wick.interpolate", "Interp")
it.connectInput(0, r)
writer("InterpWriter", it, "interp_#.png")

tr = wick("org.wick.train", "Train")
for k in range(tr.getMaxInputCount()):
    tr.connectInput(k, r)
writer("TrainWriter", tr, "train_#.png")
