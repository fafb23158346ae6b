"""DynamoDB in process: a moto server on a free loopback port with the template's tables."""

from __future__ import annotations

import logging

import boto3
from moto.server import ThreadedMotoServer

from .template import REGION, TableSpec


class LocalDynamoDB:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        if self.endpoint_url:  # started, and not stopped yet
            self._server.stop()
            self.endpoint_url = ""

    def create_tables(self, tables: list[TableSpec]) -> None:
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        create_tables(client, tables)


def create_tables(client, tables: list[TableSpec]) -> None:
    """Creates the template's tables, TTL included (moto keeps TTL settings but never expires items)."""
    for table in tables:
        params = {
            "TableName": table.name,
            "KeySchema": table.key_schema,
            "AttributeDefinitions": table.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if table.global_secondary_indexes:
            params["GlobalSecondaryIndexes"] = table.global_secondary_indexes
        client.create_table(**params)
        if table.ttl_attribute:
            client.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
