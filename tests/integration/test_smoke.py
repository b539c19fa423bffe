from tests.conftest import Connector


def test_user_update_creates_user(connector: Connector) -> None:
    result = connector.one(connector.user_update("1001"))
    assert result["outcome"] == "applied"
    assert connector.user("1001")["lastName"] == "Müller"
