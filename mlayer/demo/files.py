"""The demo's file step: a CSV of tickets dropped in a bucket is scored, once.

A function of its own (``mlayer-demo-files``, its mlayer.toml in ``files/``) on the demo's
dependencies layer, with ``[trigger] s3`` on a prefix and the output in another bucket; the
demo's v1 model is published on it. A CSV with a quoted comma, a key with a space and one bad
row goes through `invoke --local --s3`: every good row's prediction must be what the pipeline
itself says, the bad row must be dead-lettered with its line, and the same event again must
change nothing.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from mlayer.config import load_settings
from mlayer.demo import data as demo_data

if TYPE_CHECKING:
    from mlayer.demo.host import DemoHost

FUNCTION = "mlayer-demo-files"
INBOX, SCORES, LETTERS = "mlayer-demo-inbox", "mlayer-demo-scores", "mlayer-demo-file-letters"
KEY = "nightly/tickets 2026-12-07.csv"
ROWS = 40


class FilesStep:
    def __init__(self, demo: DemoHost, bucket: str) -> None:
        self.demo, self.bucket = demo, bucket
        self.folder = demo.workdir / "files"

    def run(self, role: str, model: demo_data.DemoModel) -> None:
        demo = self.demo
        assert demo.gateway is not None
        gw = demo.gateway
        from mlayer.local import sandbox

        for bucket in (INBOX, SCORES):
            gw.ensure_bucket(bucket)
        sandbox.ensure_queue(gw, LETTERS)
        self.folder.mkdir(parents=True, exist_ok=True)
        main = load_settings(demo.workdir / "mlayer.toml", env={})  # the demo's function
        (self.folder / "mlayer.toml").write_text(
            f'[function]\nname = "{FUNCTION}"\nrole = "{role}"\n'
            f'runtime = "{main.function.runtime}"\n'
            f'architecture = "{main.function.architecture}"\nmemory = 1024\ntimeout = 300\n'
            f'[deps]\nlayer = "{main.deps.layer}"\n[model]\nlayer = "{FUNCTION}-model"\n'
            f'[artifacts]\nbucket = "{self.bucket}"\n'
            f'[trigger]\ns3 = "s3://{INBOX}/nightly/"\nchunk_records = 16\n'
            f'[output]\nsink = "s3://{SCORES}/nightly/"\ndead_letter = "sqs://{LETTERS}"\n'
        )
        demo.say(f"\nFiles: {FUNCTION} scores CSVs dropped in s3://{INBOX}/nightly/")
        demo.grant(self.folder)
        demo.mlayer("deploy-function", "--yes", cwd=self.folder)
        args = ["publish-model", str(model.model)]
        for pre in model.preprocessors:
            args += ["-p", str(pre)]
        demo.mlayer(*args, "--label", model.label, "--input", "text", "--yes", cwd=self.folder)
        texts, _ = demo_data.make_texts(ROWS, 404)
        out = io.StringIO()
        rows = [["id", "text"], *([f"f{i}", text] for i, text in enumerate(texts))]
        csv.writer(out, lineterminator="\n").writerows(rows)
        body = out.getvalue() + "f-bad\n"  # one field short: a dead letter for its line
        gw.put_bytes(INBOX, KEY, body.encode())
        demo.say(f"  put s3://{INBOX}/{KEY}: {ROWS} tickets and one bad row")
        uri = f"s3://{INBOX}/{KEY}"
        doc = json.loads(
            demo.mlayer("--json", "invoke", "--local", "--s3", uri, cwd=self.folder).stdout
        )
        (done,) = doc["response"]["files"]
        lines = self._lines(done["output"])
        want = demo_data.predict_directly(model, texts)
        demo.check(
            "a scored file's predictions are the pipeline's own",
            [o["prediction"] for o in lines] == want and [o["id"] for o in lines] == rows_ids(ROWS),
            f"{len(lines)} lines in {done['output']} ({len(doc['invocations'])} invocation(s))",
        )
        letters = [json.loads(b) for b in sandbox.receive_all(gw, LETTERS)]
        demo.check(
            "the file's bad row is dead-lettered with its line",
            [(x["line"], x["data"]) for x in letters] == [(ROWS + 2, "f-bad")],
            "; ".join(f"line {x['line']}: {x['reason']}" for x in letters) or "no letter",
        )
        again = json.loads(
            demo.mlayer("--json", "invoke", "--local", "--s3", uri, cwd=self.folder).stdout
        )
        status = again["response"]["files"][0]["status"]
        demo.check(
            "the same S3 event again changes nothing",
            status == "skipped" and self._lines(done["output"]) == lines,
            again["response"]["files"][0]["detail"],
        )

    def _lines(self, uri: str) -> list[dict[str, Any]]:
        assert self.demo.gateway is not None
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body = self.demo.gateway.get_bytes(bucket, key).decode()
        return [json.loads(line) for line in body.splitlines()]


def rows_ids(n: int) -> list[str]:
    return [f"f{i}" for i in range(n)]
