"""CORS is off unless origins are named, and no configuration names "*": a browser page on any origin could
otherwise call the control plane with a key its user holds."""

from __future__ import annotations

import shlex
import tomllib

from kimiyi_local.template import PROJECT_ROOT, load_template


def overrides(section: dict) -> dict[str, str]:
    text = section.get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in shlex.split(text))


def test_cors_is_off_by_default_and_the_origins_come_from_the_parameter():
    template = load_template()
    parameter = template["Parameters"]["CorsAllowedOrigins"]
    assert parameter["Default"] == ""
    assert template["Conditions"]["HasCorsOrigins"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowedOrigins"}, ""]}]
    }
    condition, cors, otherwise = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert condition == "HasCorsOrigins" and otherwise == {"Ref": "AWS::NoValue"}
    assert cors["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]}
    assert "AllowCredentials" not in cors  # the API key travels in a header, never a cookie


def test_no_deploy_configuration_allows_every_origin_and_prod_names_its_own():
    config = tomllib.loads((PROJECT_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    environments = {name: overrides(section) for name, section in config.items() if isinstance(section, dict)}
    for name, values in environments.items():
        origins = values.get("CorsAllowedOrigins", "")
        assert "*" not in origins, name
    prod = environments["prod"]["CorsAllowedOrigins"].split(",")
    assert prod and all(origin.startswith("https://") for origin in prod)
