"""The tool version, recorded in every manifest."""

TOOL_VERSION = "0.1.0"
