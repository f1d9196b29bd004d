"""Writes tests/zoo/bert_pretrain/hostile_pickle_checkpoint/bert_model.pt: a pickle that would run
`touch /tmp/nlpgrade-pickle-payload-ran` when unpickled (never, with weights_only=True)."""
import os, pickle, zipfile, io
class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/nlpgrade-pickle-payload-ran",))
# torch.save-style zip container with data.pkl holding the payload
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as zf:
    zf.writestr("archive/data.pkl", pickle.dumps({"embedding.tok_embed.weight": Payload()}, protocol=2))
    zf.writestr("archive/version", "3\n")
open("tests/zoo/bert_pretrain/hostile_pickle_checkpoint/bert_model.pt", "wb").write(buf.getvalue())
