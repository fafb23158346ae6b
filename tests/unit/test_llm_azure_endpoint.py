import pytest

from kimiyi.llm import DEFAULT_AZURE_API_VERSION, LLMConfigError, parse_azure_endpoint

FULL = "https://myres.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-08-01-preview"


def test_full_chat_completions_url_is_split_into_its_parts():
    target = parse_azure_endpoint(FULL)
    assert target.endpoint == "https://myres.openai.azure.com"
    assert target.deployment == "gpt-4o-mini"
    assert target.api_version == "2024-08-01-preview"
    assert target.host == "myres.openai.azure.com"


def test_values_in_the_full_url_win_over_the_separate_variables():
    target = parse_azure_endpoint(FULL, deployment="other", api_version="2024-10-21")
    assert (target.deployment, target.api_version) == ("gpt-4o-mini", "2024-08-01-preview")


def test_full_url_without_api_version_takes_the_variable_or_the_default():
    url = "https://myres.openai.azure.com/openai/deployments/gpt-4o/chat/completions/"
    assert parse_azure_endpoint(url, api_version="2025-01-01-preview").api_version == "2025-01-01-preview"
    assert parse_azure_endpoint(url).api_version == DEFAULT_AZURE_API_VERSION


def test_resource_endpoint_with_deployment_and_version_variables():
    target = parse_azure_endpoint("https://myres.openai.azure.com/", "gpt-4o-mini", "2024-10-21")
    assert target.endpoint == "https://myres.openai.azure.com"
    assert (target.deployment, target.api_version) == ("gpt-4o-mini", "2024-10-21")


def test_resource_endpoint_may_end_in_openai():
    target = parse_azure_endpoint("https://myres.openai.azure.com/openai", "dep")
    assert target.endpoint == "https://myres.openai.azure.com"


def test_a_gateway_path_before_openai_is_kept():
    url = "https://gw.example.com/azure/openai/deployments/dep/chat/completions?api-version=2024-10-21"
    assert parse_azure_endpoint(url).endpoint == "https://gw.example.com/azure"


def test_plain_http_is_accepted_for_a_local_server_only():
    local = "http://127.0.0.1:8100/openai/deployments/dep/chat/completions?api-version=2024-10-21"
    assert parse_azure_endpoint(local).endpoint == "http://127.0.0.1:8100"
    with pytest.raises(LLMConfigError, match="AZURE_OPENAI_ENDPOINT must use https"):
        parse_azure_endpoint("http://myres.openai.azure.com", "dep")


@pytest.mark.parametrize(
    ("endpoint", "deployment", "api_version", "message"),
    [
        ("myres.openai.azure.com", "dep", "", "AZURE_OPENAI_ENDPOINT must be an https:// URL"),
        ("ftp://myres.openai.azure.com", "dep", "", "AZURE_OPENAI_ENDPOINT must be an https:// URL"),
        ("https://myres.openai.azure.com:abc", "dep", "", "AZURE_OPENAI_ENDPOINT is not a URL"),
        ("https://myres.openai.azure.com", "", "", "AZURE_OPENAI_DEPLOYMENT is required"),
        (
            "https://myres.openai.azure.com",
            "bad name!",
            "",
            "AZURE_OPENAI_DEPLOYMENT has an invalid deployment",
        ),
        ("https://myres.openai.azure.com", "dep", "yesterday", "AZURE_OPENAI_API_VERSION has an invalid"),
        (
            "https://myres.openai.azure.com/openai/deployments//chat/completions?api-version=2024-10-21",
            "",
            "",
            "AZURE_OPENAI_ENDPOINT has an empty deployment",
        ),
        (
            "https://myres.openai.azure.com/openai/deployments/dep/completions?api-version=2024-10-21",
            "",
            "",
            "AZURE_OPENAI_ENDPOINT must end in /openai/deployments/<deployment>/chat/completions",
        ),
        (
            "https://myres.openai.azure.com/openai/deployments/dep/embeddings?api-version=2024-10-21",
            "",
            "",
            "AZURE_OPENAI_ENDPOINT must end in",
        ),
        (
            "https://myres.openai.azure.com/openai/deployments/dep/chat/completions?api-version=v1",
            "",
            "",
            "AZURE_OPENAI_ENDPOINT has an invalid api-version",
        ),
        (
            "https://myres.openai.azure.com/somewhere",
            "dep",
            "",
            "AZURE_OPENAI_ENDPOINT has an unexpected path",
        ),
    ],
)
def test_malformed_values_name_the_variable(endpoint, deployment, api_version, message):
    with pytest.raises(LLMConfigError, match=message):
        parse_azure_endpoint(endpoint, deployment, api_version)
