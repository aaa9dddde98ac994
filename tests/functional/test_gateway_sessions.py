"""Every Gateway's Session shares the process's one botocore data loader (gateway/base.py), and
nothing else: credentials, region and clients stay each session's own."""

from __future__ import annotations

from mlayer.gateway import Gateway
from mlayer.gateway.base import new_session


def _loader(session):
    return session._session.get_component("data_loader")


def test_sessions_share_the_loader_and_keep_their_own_credentials_and_region():
    first = new_session(region_name="eu-west-1", aws_access_key_id="A1", aws_secret_access_key="s")
    second = new_session(region_name="us-east-2", aws_access_key_id="B2", aws_secret_access_key="t")
    assert _loader(first) is _loader(second)
    assert (first.region_name, second.region_name) == ("eu-west-1", "us-east-2")
    assert first.get_credentials().access_key == "A1"
    assert second.get_credentials().access_key == "B2"
    paths = _loader(second).search_paths
    assert len(paths) == len(set(paths))  # boto3's own folder once, however many sessions


def test_gateways_on_the_shared_loader_still_talk_to_the_embedded_aws(aws):
    one = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    two = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    one.ensure_bucket("shared-loader")
    assert two.get_json_if_exists("shared-loader", "nothing.json") is None
    assert _loader(one.session) is _loader(two.session)
    assert one.session is not two.session
