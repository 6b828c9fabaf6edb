-- orders: the order desk. Order e-mails from the web shop carry an
-- order.json or an order.csv attachment; this stage checks the order,
-- writes it to [database.orders] in one transaction and files the message
-- into the recipient's Orders folder. See ../README.md.
--
-- It runs in on_queue, after the 250: the message is already safe in the
-- queue. When the database is down, h:tx raises, the stage's
-- on_error = "tempfail" keeps the message queued and the queue retries it.
-- Writing is idempotent, so a retry, or a second copy of the same order,
-- stores nothing twice. A malformed or inconsistent order is quarantined
-- with a reason that names the problem, and nothing of it is written.

local FOLDER = "Orders"
local CSV_CURRENCY = "EUR"     -- order.csv has no currency column
local CSV_HEADER = "order_id,customer_email,sku,qty,price"
local MAX_ITEMS = 500
local TOLERANCE = 0.005        -- total versus the sum of the items

-- bad stops the parsing with a reason for the quarantine.
local function bad(fmt, ...)
  error({reason = string.format(fmt, ...)}, 0)
end

-- money formats an amount with two decimals.
local function money(x)
  return string.format("%.2f", x)
end

-- cents rounds an amount to whole cents.
local function cents(x)
  return math.floor(x * 100 + 0.5) / 100
end

-- trim removes surrounding white space.
local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- shown cuts a value from the message down for a quarantine reason.
local function shown(v)
  local s = tostring(v):gsub("%c", "?")
  if #s > 40 then s = s:sub(1, 40) .. "..." end
  return s
end

-- parse_json reads order.json:
-- {"order_id": "A-1", "customer": {"name": "…", "email": "…"},
--  "currency": "EUR", "items": [{"sku": "…", "qty": 2, "price": 9.5}],
--  "total": 19.0}
local function parse_json(text)
  local ok, o = pcall(json.decode, text)
  if not ok then
    bad("order.json: malformed JSON: %s", (tostring(o):gsub("^.-:%d+: ", "")))
  end
  if type(o) ~= "table" then
    bad("order.json: not a JSON object")
  end
  local c = o.customer
  if type(c) ~= "table" then
    c = {}
  end
  return {
    source = "order.json", id = o.order_id, name = c.name, email = c.email,
    currency = o.currency, items = o.items, total = o.total, need_name = true,
  }
end

-- csv_fields splits one CSV line (RFC 4180 quoting, no line breaks inside
-- quotes) into its fields.
local function csv_fields(line, n)
  local fields, i, len = {}, 1, #line
  while true do
    local field
    if line:sub(i, i) == '"' then
      local buf, j = {}, i + 1
      while true do
        local q = line:find('"', j, true)
        if not q then
          bad("order.csv: line %d: unterminated quote", n)
        end
        buf[#buf + 1] = line:sub(j, q - 1)
        if line:sub(q + 1, q + 1) == '"' then
          buf[#buf + 1] = '"'
          j = q + 2
        else
          i = q + 1
          break
        end
      end
      field = table.concat(buf)
      if i <= len and line:sub(i, i) ~= "," then
        bad("order.csv: line %d: text after a quoted field", n)
      end
    else
      local comma = line:find(",", i, true) or len + 1
      field = trim(line:sub(i, comma - 1))
      i = comma
    end
    fields[#fields + 1] = field
    if line:sub(i, i) ~= "," then
      return fields
    end
    i = i + 1
  end
end

-- number_field turns a CSV field into a number when it looks like one, and
-- leaves it a string (which the checks then refuse) when it does not.
local function number_field(s, pattern)
  if s:match(pattern) then
    return tonumber(s)
  end
  return s
end

-- parse_csv reads order.csv: the header order_id,customer_email,sku,qty,price
-- and one line per item, all of the same order.
local function parse_csv(text)
  text = text:gsub("^\239\187\191", "") -- a byte order mark
  local o = {source = "order.csv", currency = CSV_CURRENCY, items = {}}
  local n, header = 0, nil
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    n = n + 1
    if trim(line) ~= "" then
      local f = csv_fields(line, n)
      if not header then
        header = table.concat(f, ","):lower()
        if header ~= CSV_HEADER then
          bad("order.csv: header is %s, want %s", shown(header), CSV_HEADER)
        end
      else
        if #f ~= 5 then
          bad("order.csv: line %d: %d fields, want 5", n, #f)
        end
        if #o.items >= MAX_ITEMS then
          bad("order.csv: more than %d items", MAX_ITEMS)
        end
        o.id = o.id or f[1]
        o.email = o.email or f[2]
        if f[1] ~= o.id then
          bad("order.csv: line %d: order_id %s differs from %s", n, shown(f[1]), shown(o.id))
        end
        if f[2] ~= o.email then
          bad("order %s: line %d: customer_email differs from line 2", shown(o.id), n)
        end
        o.items[#o.items + 1] = {
          sku = f[3],
          qty = number_field(f[4], "^%d+$"),
          price = number_field(f[5], "^%d+%.?%d*$"),
        }
      end
    end
  end
  if not header then
    bad("order.csv: empty")
  end
  return o
end

-- check validates a parsed order and returns it cleaned: trimmed strings,
-- amounts in cents, the total (computed for CSV orders).
local function check(o)
  if type(o.id) ~= "string" or o.id == "" then
    bad("%s: order_id is missing", o.source)
  end
  if #o.id > 64 or not o.id:match("^[%w][%w%-_./#]*$") then
    bad("%s: order_id %s is not valid (letters, digits and -_./# up to 64)", o.source, shown(o.id))
  end
  local where = "order " .. o.id
  if type(o.email) ~= "string" or #o.email > 254 or not o.email:match("^[^%s@]+@[^%s@]+%.[^%s@]+$") then
    bad("%s: customer email %s is not valid", where, shown(o.email or "(missing)"))
  end
  if o.need_name and (type(o.name) ~= "string" or trim(o.name) == "" or #o.name > 200) then
    bad("%s: customer name is missing or longer than 200 bytes", where)
  end
  if type(o.currency) ~= "string" or not o.currency:match("^%a%a%a$") then
    bad("%s: currency %s is not a 3-letter code", where, shown(o.currency or "(missing)"))
  end
  local items = o.items
  if type(items) ~= "table" or #items == 0 then
    bad("%s: no items", where)
  end
  if #items > MAX_ITEMS then
    bad("%s: more than %d items", where, MAX_ITEMS)
  end
  local sum, skus, clean = 0, {}, {}
  for i = 1, #items do
    local it = items[i]
    if type(it) ~= "table" then
      bad("%s: item %d is not an object", where, i)
    end
    local sku, qty, price = it.sku, it.qty, it.price
    if type(sku) ~= "string" or sku == "" or #sku > 64 or sku:match("%c") then
      bad("%s: item %d: sku is missing or not valid", where, i)
    end
    if skus[sku] then
      bad("%s: item %d: sku %s appears twice", where, i, shown(sku))
    end
    skus[sku] = true
    if type(qty) ~= "number" or qty ~= math.floor(qty) or qty <= 0 or qty > 1000000 then
      bad("%s: item %d (%s): qty %s is not a whole number > 0", where, i, shown(sku), shown(qty))
    end
    if type(price) ~= "number" or price ~= price or price < 0 or price >= 1e9 then
      bad("%s: item %d (%s): price %s is not an amount >= 0", where, i, shown(sku), shown(price))
    end
    if math.abs(price * 100 - cents(price) * 100) > 1e-6 then
      bad("%s: item %d (%s): price %s has more than 2 decimals", where, i, shown(sku), shown(price))
    end
    sum = sum + qty * cents(price)
    clean[i] = {sku = sku, qty = qty, price = cents(price)}
  end
  sum = cents(sum)
  local total = o.total
  if o.source == "order.csv" then
    total = sum
  elseif type(total) ~= "number" or total ~= total then
    bad("%s: total %s is not a number", where, shown(total or "(missing)"))
  elseif math.abs(total - sum) > TOLERANCE then
    bad("%s: total %s does not match items %s", where, money(total), money(sum))
  end
  return {
    id = o.id, email = o.email, name = o.name and trim(o.name) or nil,
    currency = o.currency:upper(), total = cents(total), items = clean,
  }
end

-- read finds the order attachment and returns the checked order, nil when
-- the message carries none, or raises {reason = …} when it is bad.
local function read(msg)
  local part = msg:attachment("order.json")
  if part then
    return check(parse_json(part:text()))
  end
  part = msg:attachment("order.csv")
  if part then
    return check(parse_csv(part:text()))
  end
  return nil
end

-- duplicate tells a unique-key error of SQLite, PostgreSQL or MySQL.
local function duplicate(err)
  local e = tostring(err):lower()
  return e:find("unique constraint", 1, true) ~= nil -- SQLite, PostgreSQL
    or e:find("duplicate key", 1, true) ~= nil        -- PostgreSQL
    or e:find("duplicate entry", 1, true) ~= nil      -- MySQL, MariaDB
end

-- store writes the order in one transaction unless it is there already
-- (same order id, or same Message-ID). It returns true when it wrote it.
local function store(h, o, message_id)
  local wrote = false
  local ok, err = pcall(h.tx, h, function(tx)
    local seen
    if message_id then
      seen = tx:query("SELECT order_id FROM orders WHERE order_id = ? OR message_id = ?", o.id, message_id)
    else
      seen = tx:query("SELECT order_id FROM orders WHERE order_id = ?", o.id)
    end
    if #seen > 0 then
      return
    end
    tx:exec("INSERT INTO orders (order_id, message_id, customer_name, customer_email, currency, total)"
      .. " VALUES (?, ?, ?, ?, ?, ?)", o.id, message_id, o.name, o.email, o.currency, o.total)
    for _, it in ipairs(o.items) do
      tx:exec("INSERT INTO order_items (order_id, sku, qty, price) VALUES (?, ?, ?, ?)",
        o.id, it.sku, it.qty, it.price)
    end
    wrote = true
  end)
  if ok then
    return wrote
  end
  if duplicate(err) then
    -- The same order committed by another worker between our SELECT and
    -- our INSERT: the primary key held, and the order is stored once.
    return false
  end
  error(err, 0) -- database down, deadline …: on_error = "tempfail"
end

function on_queue(msg)
  local ok, o = pcall(read, msg)
  if not ok then
    if type(o) == "table" and o.reason then
      log.warn("order refused", {reason = o.reason})
      return quarantine(o.reason)
    end
    error(o, 0)
  end
  if not o then
    return -- not an order: the other stages and the implicit keep decide
  end
  local message_id = trim(msg:header("Message-ID"))
  if message_id == "" then
    message_id = nil
  end
  local h = db.open("orders")
  if store(h, o, message_id) then
    log.info("order stored", {order_id = o.id, items = #o.items, total = o.total})
    msg:add_header("X-Order", o.id .. " stored")
  else
    log.info("order already stored", {order_id = o.id})
    msg:add_header("X-Order", o.id .. " already stored")
  end
  msg:fileinto(FOLDER)
end
