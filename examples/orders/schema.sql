-- The order desk's tables. Run by sluice when it opens [database.orders]
-- (init = "schema.sql"), every time: each statement must be idempotent.
-- Portable SQL: the same file works on SQLite, PostgreSQL and MySQL/MariaDB.
-- Money is DECIMAL(12,2). received_at is set by the database.

CREATE TABLE IF NOT EXISTS orders (
    order_id       VARCHAR(64)   NOT NULL PRIMARY KEY,
    message_id     VARCHAR(255)  UNIQUE,
    customer_name  VARCHAR(200),
    customer_email VARCHAR(254)  NOT NULL,
    currency       CHAR(3)       NOT NULL,
    total          DECIMAL(12,2) NOT NULL,
    received_at    TIMESTAMP     NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS order_items (
    order_id VARCHAR(64)   NOT NULL,
    sku      VARCHAR(64)   NOT NULL,
    qty      INTEGER       NOT NULL,
    price    DECIMAL(12,2) NOT NULL,
    PRIMARY KEY (order_id, sku),
    FOREIGN KEY (order_id) REFERENCES orders (order_id)
);
