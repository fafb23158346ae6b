"""The local stack: runs the SAM application on 127.0.0.1 with no Docker, AWS account or keys.

It reads template.yaml (routes, functions, environment, tables), serves the HTTP API and the WebSocket
API with real-shaped API Gateway events, implements the @connections management API, and starts an
in-process DynamoDB (moto server) with the template's tables.
"""
