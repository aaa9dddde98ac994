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
    from mlayer.gateway import Gateway

FUNCTION = "mlayer-demo-files"
INBOX, SCORES, LETTERS = "mlayer-demo-inbox", "mlayer-demo-scores", "mlayer-demo-file-letters"
KEY = "nightly/tickets 2026-12-07.csv"
ROWS = 40


class FilesStep:
    def __init__(self, demo: DemoHost, bucket: str) -> None:
        self.demo, self.bucket = demo, bucket
        self.folder = demo.workdir / "files"

    def run(self, role: str, model: demo_data.DemoModel) -> None:
        assert self.demo.gateway is not None
        gw = self.demo.gateway
        self._prepare(gw, role)
        self._deploy(model)
        texts = self._drop(gw)
        uri = f"s3://{INBOX}/{KEY}"
        done, lines = self._score(uri, model, texts)
        self._check_letters(gw)
        self._check_again(uri, done["output"], lines)

    def _prepare(self, gw: Gateway, role: str) -> None:
        """The buckets, the dead-letter queue and the function's own mlayer.toml: on the demo's
        dependencies layer, triggered by the inbox's prefix, writing to the scores bucket."""
        from mlayer.local import sandbox

        for bucket in (INBOX, SCORES):
            gw.ensure_bucket(bucket)
        sandbox.ensure_queue(gw, LETTERS)
        self.folder.mkdir(parents=True, exist_ok=True)
        main = load_settings(self.demo.workdir / "mlayer.toml", env={})  # the demo's function
        (self.folder / "mlayer.toml").write_text(
            f'[function]\nname = "{FUNCTION}"\nrole = "{role}"\n'
            f'runtime = "{main.function.runtime}"\n'
            f'architecture = "{main.function.architecture}"\nmemory = 1024\ntimeout = 300\n'
            f'[deps]\nlayer = "{main.deps.layer}"\n[model]\nlayer = "{FUNCTION}-model"\n'
            f'[artifacts]\nbucket = "{self.bucket}"\n'
            f'[trigger]\ns3 = "s3://{INBOX}/nightly/"\nchunk_records = 16\n'
            f'[output]\nsink = "s3://{SCORES}/nightly/"\ndead_letter = "sqs://{LETTERS}"\n'
        )

    def _deploy(self, model: demo_data.DemoModel) -> None:
        """The function deployed and the demo's v1 model published on it, through the CLI."""
        demo = self.demo
        demo.say(f"\nFiles: {FUNCTION} scores CSVs dropped in s3://{INBOX}/nightly/")
        demo.grant(self.folder)
        demo.mlayer("deploy-function", "--yes", cwd=self.folder)
        args = ["publish-model", str(model.model)]
        for pre in model.preprocessors:
            args += ["-p", str(pre)]
        demo.mlayer(*args, "--label", model.label, "--input", "text", "--yes", cwd=self.folder)

    def _drop(self, gw: Gateway) -> list[str]:
        """The CSV put in the inbox (quoted commas, a key with a space, one row a field short);
        the tickets' texts, in row order."""
        texts, _ = demo_data.make_texts(ROWS, 404)
        out = io.StringIO()
        rows = [["id", "text"], *([f"f{i}", text] for i, text in enumerate(texts))]
        csv.writer(out, lineterminator="\n").writerows(rows)
        body = out.getvalue() + "f-bad\n"  # one field short: a dead letter for its line
        gw.put_bytes(INBOX, KEY, body.encode())
        self.demo.say(f"  put s3://{INBOX}/{KEY}: {ROWS} tickets and one bad row")
        return texts

    def _score(
        self, uri: str, model: demo_data.DemoModel, texts: list[str]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The S3 event run locally; every good row's prediction must be the pipeline's own.
        The file's result and its output lines, for the re-run's check."""
        demo = self.demo
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
        return done, lines

    def _check_letters(self, gw: Gateway) -> None:
        """The one bad row must be dead-lettered, with its line number in the file."""
        from mlayer.local import sandbox

        letters = [json.loads(b) for b in sandbox.receive_all(gw, LETTERS)]
        self.demo.check(
            "the file's bad row is dead-lettered with its line",
            [(x["line"], x["data"]) for x in letters] == [(ROWS + 2, "f-bad")],
            "; ".join(f"line {x['line']}: {x['reason']}" for x in letters) or "no letter",
        )

    def _check_again(self, uri: str, output: str, lines: list[dict[str, Any]]) -> None:
        """The same event again must be skipped and leave the output as it was."""
        again = json.loads(
            self.demo.mlayer("--json", "invoke", "--local", "--s3", uri, cwd=self.folder).stdout
        )
        status = again["response"]["files"][0]["status"]
        self.demo.check(
            "the same S3 event again changes nothing",
            status == "skipped" and self._lines(output) == lines,
            again["response"]["files"][0]["detail"],
        )

    def _lines(self, uri: str) -> list[dict[str, Any]]:
        assert self.demo.gateway is not None
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body = self.demo.gateway.get_bytes(bucket, key).decode()
        return [json.loads(line) for line in body.splitlines()]


def rows_ids(n: int) -> list[str]:
    return [f"f{i}" for i in range(n)]
