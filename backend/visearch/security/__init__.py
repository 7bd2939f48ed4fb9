"""Who may call the API and how much: API keys with scopes (``keys``), budgets per client
(``ratelimit``), active jobs per client (``quotas``) and the rules for exposing the server
(``exposure``). The HTTP side (dependencies, middleware, the uvicorn protocol) is in ``api``."""
