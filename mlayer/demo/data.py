"""The demo's model: a small support-ticket classifier shaped like the classic text example.

CountVectorizer -> TfidfTransformer -> classifier, saved as three joblib artifacts, trained on
tickets generated from word lists (no data set to download). Two versions differ in their
classifier so that `history`, predictions and rollback have something to show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

TOPICS = {
    "billing": "invoice refund charge charged payment card bill subscription price overcharged receipt".split(),
    "technical": "error crash login password bug app freeze update install slow timeout".split(),
    "shipping": "delivery package parcel courier tracking arrived late address shipped lost".split(),
}
FILLER = (
    "hello please help my the a is was with and today since yesterday thanks urgent again".split()
)


@dataclass(frozen=True)
class DemoModel:
    label: str
    preprocessors: tuple[Path, ...]
    model: Path

    @property
    def artifacts(self) -> tuple[Path, ...]:
        return (*self.preprocessors, self.model)


def make_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """n tickets and their topics; a third of the words are filler, a few words cross topics."""
    rng = random.Random(seed)
    names = sorted(TOPICS)
    texts, labels = [], []
    for _ in range(n):
        topic = rng.choice(names)
        other = rng.choice(names)
        words = rng.choices(TOPICS[topic], k=rng.randint(3, 7))
        words += rng.choices(TOPICS[other], k=rng.randint(0, 2))
        words += rng.choices(FILLER, k=rng.randint(2, 5))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(topic)
    return texts, labels


def train(folder: Path, version: int, seed: int = 7) -> DemoModel:
    """Fit and save version 1 (logistic regression) or 2 (naive Bayes) of the demo pipeline."""
    import joblib
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    texts, labels = make_texts(600, seed)
    vectorizer = CountVectorizer()
    tfidf = TfidfTransformer()
    features = tfidf.fit_transform(vectorizer.fit_transform(texts))
    classifier = LogisticRegression(max_iter=500) if version == 1 else MultinomialNB(alpha=0.5)
    classifier.fit(features, labels)
    paths = []
    for name, obj in (("vectorizer", vectorizer), ("tfidf", tfidf), ("model", classifier)):
        path = folder / f"v{version}-{name}.joblib"
        joblib.dump(obj, path)
        paths.append(path)
    return DemoModel(label=f"v{version}", preprocessors=tuple(paths[:2]), model=paths[2])


def predict_directly(model: DemoModel, texts: list[str]) -> list[str]:
    """What sklearn itself says, for checking the function's answers."""
    import joblib

    steps = [joblib.load(p) for p in model.artifacts]
    rows = texts
    for step in steps[:-1]:
        rows = step.transform(rows)
    return [str(p) for p in steps[-1].predict(rows)]
