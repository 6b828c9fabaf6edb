-- Tests of orders.lua: run with `sluice test examples/orders`. Each test gets
-- a throw-away SQLite copy of [database.orders] with ../schema.sql applied.
-- A dry run (the default) lists the statements as "sql" actions and rolls
-- them back; commit = true writes them, and t.query reads them back.

local function order(t, file, commit)
  return t.run({script = "orders.lua", message = "../messages/" .. file, commit = commit,
                from = "shop@shop.example", rcpt = "orders@shop.example"})
end

-- statements returns the sql actions of r.
local function statements(r)
  local out = {}
  for _, a in ipairs(r.actions) do
    if a.kind == "sql" then
      out[#out + 1] = a.reason
    end
  end
  return out
end

test("a JSON order is written in one transaction and filed", function(t)
  local r = order(t, "order-json.eml")
  t.eq(r.verdict, "accept")
  local sql = statements(r)
  t.eq(#sql, 3, "one order and two items")
  t.match(sql[1], "^INSERT INTO orders ")
  t.match(sql[2], "^INSERT INTO order_items ")
  t.contains(r.actions, {kind = "fileinto", folder = "Orders"})
  t.eq(r.headers.added, {{"X-Order", "A-1001 stored"}})
  -- a dry run wrote nothing
  local rows = t.query("orders", "SELECT count(*) AS n FROM orders")
  t.eq(rows[1].n, 0)
end)

test("committed, the order is in the database once", function(t)
  local r = order(t, "order-json.eml", true)
  t.eq(r.headers.added, {{"X-Order", "A-1001 stored"}})
  local rows = t.query("orders", "SELECT order_id, customer_name, customer_email, currency, total FROM orders")
  t.eq(rows, {{order_id = "A-1001", customer_name = "Alice Müller", customer_email = "alice@example.org",
               currency = "EUR", total = 23.25}})
  rows = t.query("orders", "SELECT sku, qty, price FROM order_items ORDER BY sku")
  t.eq(rows, {{sku = "MUG-RED", qty = 2, price = 9.5}, {sku = "TEA-GREEN-100G", qty = 1, price = 4.25}})

  -- the same message again (a retry, a second copy): nothing new
  r = order(t, "order-json.eml", true)
  t.eq(r.headers.added, {{"X-Order", "A-1001 already stored"}})
  t.eq(statements(r), {})
  t.eq(t.query("orders", "SELECT count(*) AS n FROM order_items")[1].n, 2)
end)

test("a CSV order sums its items", function(t)
  order(t, "order-csv.eml", true)
  local rows = t.query("orders", "SELECT total, currency, customer_email FROM orders WHERE order_id = ?", "B-2002")
  t.eq(rows, {{total = 41.7, currency = "EUR", customer_email = "carol@example.net"}})
  rows = t.query("orders", "SELECT sku FROM order_items WHERE order_id = ? ORDER BY sku", "B-2002")
  t.eq(#rows, 3)
  t.eq(rows[2].sku, "NOTEBOOK A5, dotted")
end)

test("SQL in the order is stored as text", function(t)
  order(t, "injection.eml", true)
  local rows = t.query("orders", "SELECT customer_name, currency FROM orders")
  t.eq(rows, {{customer_name = [[Robert'); DROP TABLE orders; -- "Bobby" O'Brien]], currency = "USD"}})
  t.eq(t.query("orders", "SELECT count(*) AS n FROM order_items")[1].n, 2)
end)

test("bad orders are quarantined with the reason, and nothing is written", function(t)
  for _, c in ipairs({
    {"bad-total.eml", "order A-1: total 20.00 does not match items 19.00"},
    {"bad-qty.eml", "order B-3: item 1 (PEN-BLUE): qty 0 is not a whole number > 0"},
    {"malformed.eml", "order.json: malformed JSON"},
  }) do
    local file, reason = c[1], c[2]
    local r = order(t, file, true)
    t.eq(r.verdict, "quarantine", file)
    t.contains(r.text, reason, file)
    t.eq(statements(r), {}, file)
  end
  t.eq(t.query("orders", "SELECT count(*) AS n FROM orders")[1].n, 0)
end)

test("a message that is not an order is left alone", function(t)
  local r = order(t, "plain.eml")
  t.eq(r.verdict, "accept")
  t.eq(r.actions, {})
  t.eq(r.headers.added, {})
end)

test("the database down: tempfail, the queue retries", function(t)
  t.query("orders", "DROP TABLE order_items")
  local r = order(t, "order-json.eml", true)
  t.eq(r.verdict, "tempfail")
  t.match(r.stages[1].error, "no such table: order_items")
end)
