"""The API's request and response bodies (pydantic), one module per area. Separate from the tables
(``db/tables.py``): a response is built field by field from a service result, never from a stored row."""
