---@meta sluice

-- Definitions of the Lua API of sluice scripts for lua-language-server
-- (LuaLS): completion, hover help and type checks. docs/lua-api.md is the
-- reference; stdlib/apidoc_test.go checks that both name exactly what the
-- sandbox gives scripts.
--
-- Point LuaLS at the folder holding this file ("workspace.library") and turn
-- off its built-in libraries ("runtime.builtin"): this file declares the
-- smaller set the sandbox has. See "Editor support" in docs/lua-api.md.
--
-- In a script, say what a hook gets:
--
--   ---@param msg sluice.Msg
--   function on_data(msg) ... end

-- ===========================================================================
-- Hooks: a stage defines one or more of them.
-- ===========================================================================

---Runs when a client connects, before the greeting. reject or tempfail
---refuse the connection.
---@param conn sluice.Conn
---@return sluice.Verdict?
function on_connect(conn) end

---Runs at HELO/EHLO (conn.helo is set). A refusal answers HELO and every
---later command of the session.
---@param conn sluice.Conn
---@return sluice.Verdict?
function on_helo(conn) end

---Runs at MAIL FROM. A refusal answers that command.
---@param tx sluice.Tx
---@return sluice.Verdict?
function on_mail(tx) end

---Runs at each RCPT TO, after the server's own user and relay checks.
---@param tx sluice.Tx the transaction; tx.rcpt holds the recipients accepted so far
---@param rcpt string the recipient asked for
---@return sluice.Verdict?
function on_rcpt(tx, rcpt) end

---Runs once the message is spooled, before the 250: reject, tempfail,
---discard or quarantine it at SMTP time.
---@param msg sluice.Msg
---@return sluice.Verdict?
function on_data(msg) end

---Runs after the 250, from the queue: tempfail retries later with backoff,
---reject bounces to the sender.
---@param msg sluice.Msg
---@return sluice.Verdict?
function on_queue(msg) end

-- ===========================================================================
-- Verdicts
-- ===========================================================================

---What a hook returns to decide: made by accept, reject, tempfail, discard
---and quarantine. tostring(v) reads like "reject(550 5.7.1 text)".
---@class sluice.Verdict

---Ends this hook's stages and lets the message (or command) through; after
---on_data, the on_queue stages still run.
---@return sluice.Verdict
function accept() end

---Refuses permanently: 550 5.7.1 "message rejected by policy" unless given.
---In on_queue, bounces to the sender. The text loses control characters and
---is cut to 400 bytes; a lone string like "5.7.1" is taken as the enhanced
---code.
---@param code integer a 5xx reply code
---@param enhanced string an enhanced status code "5.x.y"
---@param text string the reply text
---@return sluice.Verdict
---@overload fun(text?: string): sluice.Verdict
---@overload fun(code: integer, text?: string): sluice.Verdict
---@overload fun(enhanced: string, text?: string): sluice.Verdict
function reject(code, enhanced, text) end

---Refuses for now: 451 4.7.1 "try again later" unless given. In on_queue,
---the queue retries later.
---@param code integer a 4xx reply code
---@param enhanced string an enhanced status code "4.x.y"
---@param text string the reply text
---@return sluice.Verdict
---@overload fun(text?: string): sluice.Verdict
---@overload fun(code: integer, text?: string): sluice.Verdict
---@overload fun(enhanced: string, text?: string): sluice.Verdict
function tempfail(code, enhanced, text) end

---Answers 250 and drops the message silently: no delivery, no bounce.
---@return sluice.Verdict
function discard() end

---Answers 250 and holds the message in the quarantine.
---@param reason? string why ("quarantined by policy" if none)
---@return sluice.Verdict
function quarantine(reason) end

-- ===========================================================================
-- The message
-- ===========================================================================

---The message, as on_data and on_queue get it; valid during the hook call
---only. Fields are read-only; call methods with a colon.
---@class sluice.Msg
---@field id string the queue id
---@field from string the envelope sender; "" for the null sender
---@field rcpt string[] a new array of the envelope recipients each time it is read
---@field client string the SMTP client's address, "ip:port"
---@field helo string the name the client gave in HELO/EHLO
---@field size integer the size in bytes, after the edits so far
---@field vars table<string, any> your own values, carried from stage to stage and through the queue (JSON-compatible)
local Msg = {}

---The first value of a header field, unfolded and decoded; "" when none.
---@param name string case-insensitive
---@return string
function Msg:header(name) end

---Every value of a header field, in order.
---@param name string case-insensitive
---@return string[]
function Msg:headers(name) end

---Every field of the header, in order.
---@return sluice.HeaderField[]
function Msg:header_fields() end

---The Subject, decoded; "" when none.
---@return string
function Msg:subject() end

---Replaces every field called name by one (where the first was, or at the
---end). Raises on a bad name or a value with CR, LF or NUL.
---@param name string
---@param value string UTF-8; encoded as needed
function Msg:set_header(name, value) end

---Adds a field at the top of the header, where trace fields go.
---@param name string
---@param value string UTF-8; encoded as needed
function Msg:add_header(name, value) end

---Removes every field called name.
---@param name string case-insensitive
---@return integer removed how many fields were removed
function Msg:remove_header(name) end

---The main text/plain body as UTF-8, or "". Raises beyond
---engine.max_part_bytes.
---@return string
function Msg:text() end

---The main text/html body as UTF-8, or "". Raises beyond
---engine.max_part_bytes.
---@return string
function Msg:html() end

---Every leaf part (text bodies and attachments) in document order.
---@return sluice.Part[]
function Msg:parts() end

---The parts that are attachments.
---@return sluice.Part[]
function Msg:attachments() end

---The first part with that file name (exact, then ignoring case), or nil.
---@param name string
---@return sluice.Part?
function Msg:attachment(name) end

---Replaces a part with a text/plain UTF-8 part holding text.
---@param part sluice.Part
---@param text string
function Msg:replace_part(part, text) end

---Removes a part (the last part left becomes an empty text part).
---@param part sluice.Part
function Msg:remove_part(part) end

---Puts text before the main text/plain body; raises when there is none.
---@param text string
function Msg:prepend_text(text) end

---The problems found while parsing the message.
---@return string[]
function Msg:defects() end

---Adds points under a symbol and returns the new total; with no
---arguments, returns the total.
---@param points? number
---@param symbol? string a non-empty rule name, e.g. "NO_SUBJECT" (needed with points)
---@param why? string
---@return number total
function Msg:score(points, symbol, why) end

---Delivers local recipients into folder instead of INBOX; the last call wins.
---@param folder string a Maildir++ folder name ("Lists.Go" is Go inside Lists)
function Msg:fileinto(folder) end

---Sends the message to address instead of its recipients.
---@param address string local@domain
function Msg:redirect(address) end

---Adds an envelope recipient.
---@param address string local@domain
function Msg:add_rcpt(address) end

---Removes an envelope recipient (ignoring case).
---@param address string local@domain
function Msg:remove_rcpt(address) end

---One entry of msg:header_fields().
---@class sluice.HeaderField
---@field name string the field name as written
---@field value string the value, unfolded and decoded

-- ===========================================================================
-- Parts
-- ===========================================================================

---A leaf part of the message: from msg:parts(), msg:attachments() or
---msg:attachment(name). Fields are read-only.
---@class sluice.Part
---@field content_type string the media type in lower case ("text/plain" when absent or invalid)
---@field filename string the file name as the sender gave it (not sanitised), or ""
---@field safe_filename string the file name made safe for a path, or ""
---@field size integer the size of the body in bytes, as encoded in the message
---@field is_attachment boolean whether the part is a file rather than body text
---@field charset string the charset parameter in lower case, or ""
---@field encoding string the Content-Transfer-Encoding in lower case ("" is 7bit)
---@field disposition string "inline", "attachment" or ""
---@field content_id string the Content-ID without angle brackets, or ""
---@field index integer the position among the message's leaf parts, from 0
local Part = {}

---The content decoded and converted to UTF-8. Raises beyond
---engine.max_part_bytes.
---@return string
function Part:text() end

---The decoded bytes (base64 and quoted-printable undone). Raises beyond
---engine.max_part_bytes.
---@return string
function Part:bytes() end

-- ===========================================================================
-- The SMTP session
-- ===========================================================================

---The client connection (on_connect, on_helo, tx.conn): a plain table made
---for each call.
---@class sluice.Conn
---@field id string the session id of the server's logs
---@field ip string the client's IP address
---@field port integer the client's port
---@field local string the listener's address, "ip:port" (write conn["local"])
---@field helo string the HELO/EHLO name; "" in on_connect
---@field tls boolean whether the session was encrypted when the hook ran
---@field user string the authenticated user, or ""
---@field lmtp boolean whether it is an LMTP session

---The transaction in progress (on_mail, on_rcpt): a plain table made for
---each call.
---@class sluice.Tx
---@field from string the envelope sender; "" for the null sender
---@field rcpt string[] the recipients accepted so far
---@field size integer the SIZE= the client announced, 0 when none
---@field conn sluice.Conn the session

-- ===========================================================================
-- log
-- ===========================================================================

---Lines in the server's log with the message id, stage, hook and file:line.
---Arguments after the text are appended to it; a table at the end gives
---the fields of the line.
---@class sluice.loglib
log = {}

---@param text any
---@param ... any more values, and a table of fields at the end
function log.debug(text, ...) end

---@param text any
---@param ... any more values, and a table of fields at the end
function log.info(text, ...) end

---@param text any
---@param ... any more values, and a table of fields at the end
function log.warn(text, ...) end

---@param text any
---@param ... any more values, and a table of fields at the end
function log.error(text, ...) end

-- ===========================================================================
-- json
-- ===========================================================================

---The value of json.null.
---@class sluice.JSONNull

---Options of json.encode.
---@class sluice.JSONEncodeOptions
---@field indent? boolean|string true for two spaces, or the indent string

---JSON encoding and decoding.
---@class sluice.jsonlib
---@field null sluice.JSONNull a value that encodes as null
json = {}

---Encodes a value as JSON ({} is an object, keys sorted). Raises on
---functions, cycles, NaN and nesting deeper than 100.
---@param value any
---@param options? sluice.JSONEncodeOptions
---@return string
function json.encode(value, options) end

---Decodes JSON: null becomes nil, arrays are marked json.array, a huge
---integer stays a decimal string. Raises with the byte offset of a problem.
---@param text string
---@return any
function json.decode(text) end

---Marks t (or a new table) to encode as an array, even when empty.
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

-- ===========================================================================
-- re
-- ===========================================================================

---Go regular expressions (RE2 syntax), linear in the input.
---@class sluice.relib
re = {}

---Whether the pattern matches anywhere in s.
---@param s string
---@param pattern string
---@return boolean
function re.match(s, pattern) end

---The leftmost match and its captures, or nil.
---@param s string
---@param pattern string
---@return string? match
---@return string? ... the captures (nil for a group that did not take part)
function re.find(s, pattern) end

---Up to n matches (all by default): strings, or, when the pattern has
---groups, tables of [0] the match, [1]... the captures and named groups.
---@param s string
---@param pattern string
---@param n? integer
---@return (string|table<integer|string, string>)[]
function re.find_all(s, pattern, n) end

---Replaces every match and returns the new string and the count. repl is a
---string ($1, ${name}, $$) or a function of the match and captures.
---@param s string
---@param pattern string
---@param repl string|number|fun(match: string, ...: string?): (string|number|false|nil)
---@return string
---@return integer count
function re.gsub(s, pattern, repl) end

---Cuts s around the matches (at most n pieces when n >= 0).
---@param s string
---@param pattern string
---@param n? integer
---@return string[]
function re.split(s, pattern, n) end

---s with every metacharacter escaped.
---@param s string
---@return string
function re.quote(s) end

-- ===========================================================================
-- mailbox
-- ===========================================================================

---The mail store. In a dry run, create, deliver and quarantine are recorded
---instead of done.
---@class sluice.mailboxlib
mailbox = {}

---Whether address has a mailbox.
---@param address string
---@return boolean
function mailbox.exists(address) end

---The mailbox's folder names, INBOX first; raises when there is no mailbox.
---@param address string
---@return string[]
function mailbox.folders(address) end

---The number of messages in a folder and how many are unseen; raises when
---the folder does not exist.
---@param address string
---@param folder? string INBOX by default
---@return integer total
---@return integer unseen
function mailbox.count(address, folder) end

---Creates a folder (and the mailbox if needed).
---@param address string
---@param folder string
function mailbox.create(address, folder) end

---Delivers a copy of the message now; the normal delivery still happens.
---@param msg sluice.Msg
---@param address string
---@param folder? string INBOX by default
function mailbox.deliver(msg, address, folder) end

---Holds a copy of the message in the quarantine and returns its id ("" in
---a dry run); the pipeline goes on.
---@param msg sluice.Msg
---@param reason string
---@return string id
function mailbox.quarantine(msg, reason) end

-- ===========================================================================
-- plugin
-- ===========================================================================

---External filters declared as [filter.NAME].
---@class sluice.pluginlib
plugin = {}

---Runs the filter name on a private copy of the message. A failed scan
---applies the filter's on_error when the hook returns, unless the hook
---refused the message itself.
---@param name string
---@param msg sluice.Msg
---@return sluice.ScanResult
function plugin.scan(name, msg) end

---What plugin.scan returns.
---@class sluice.ScanResult
---@field verdict "clean"|"infected"|"spam"|"ham"|"error"|"timeout"|"disabled"
---@field name string what the filter found (a virus or rule name), or ""
---@field score number the spam score, else 0
---@field threshold number the filter's spam threshold, else 0
---@field symbols string[] the rules that matched, sorted
---@field modified boolean whether the filter rewrote the message (already in msg)
---@field log string[] the lines the filter logged
---@field duration_ms number how long the scan took
---@field error string? why the scan failed; nil when it did not

-- ===========================================================================
-- db
-- ===========================================================================

---The [database.NAME] databases; values go in through ? placeholders only.
---@class sluice.dblib
db = {}

---A handle on [database.NAME]; raises when there is none.
---@param name string
---@return sluice.DB
function db.open(name) end

---A database handle, from db.open.
---@class sluice.DB
local DB = {}

---Runs a statement and returns the number of rows it changed.
---@param sql string
---@param ... string|number|boolean|sluice.JSONNull|nil the values of the ? placeholders
---@return integer
function DB:exec(sql, ...) end

---Runs a query and returns its rows (tables by column name) and columns.
---@param sql string
---@param ... string|number|boolean|sluice.JSONNull|nil the values of the ? placeholders
---@return table<string, any>[] rows
---@return string[] columns
function DB:query(sql, ...) end

---Calls fn in a transaction: committed when fn returns (h:tx returns what
---fn returned), rolled back when fn raises (and h:tx raises again).
---@param fn fun(tx: sluice.DBTx): ...
---@return ...
function DB:tx(fn) end

---The transaction h:tx passes to its function; dead once h:tx returns.
---@class sluice.DBTx
local DBTx = {}

---h:exec inside the transaction.
---@param sql string
---@param ... string|number|boolean|sluice.JSONNull|nil the values of the ? placeholders
---@return integer
function DBTx:exec(sql, ...) end

---h:query inside the transaction.
---@param sql string
---@param ... string|number|boolean|sluice.JSONNull|nil the values of the ? placeholders
---@return table<string, any>[] rows
---@return string[] columns
function DBTx:query(sql, ...) end

-- ===========================================================================
-- kv
-- ===========================================================================

---String values by key, kept between messages, with an optional time to
---live in seconds (0 or none: forever).
---@class sluice.kvlib
kv = {}

---The value, or nil when the key is missing or expired.
---@param key string
---@return string?
function kv.get(key) end

---Stores a string (a number is stored as its string).
---@param key string
---@param value string|number
---@param ttl? number seconds
function kv.set(key, value, ttl) end

---Adds an integer delta (default 1) and returns the sum; a missing key
---counts from 0 and gets the ttl.
---@param key string
---@param delta? integer
---@param ttl? number seconds
---@return integer
function kv.incr(key, delta, ttl) end

---Removes the key.
---@param key string
function kv.delete(key) end

-- ===========================================================================
-- Base functions (the sandbox's subset)
-- ===========================================================================

---The script's own global table, new for every hook call.
---@class _G
_G = {}

---The Lua version.
_VERSION = "Lua 5.1"

---Raises message when v is false or nil; else returns its arguments.
---@generic T
---@param v T
---@param message? any
---@param ... any
---@return T
---@return any ...
function assert(v, message, ...) end

---Raises an error.
---@param message any
---@param level? integer
function error(message, level) end

---Calls f; returns true and its results, or false and the error.
---@param f function
---@param ... any
---@return boolean success
---@return any ...
function pcall(f, ...) end

---Calls f; on an error returns false and what handler returned.
---@param f function
---@param handler fun(err: any): any
---@return boolean success
---@return any ...
function xpcall(f, handler) end

---The type of v.
---@param v any
---@return "nil"|"number"|"string"|"boolean"|"table"|"function"|"thread"|"userdata"
function type(v) end

---v as a string (honouring __tostring).
---@param v any
---@return string
function tostring(v) end

---v as a number, or nil.
---@param v any
---@param base? integer
---@return number?
function tonumber(v, base) end

---Iterates over t[1], t[2]... up to the first nil.
---@generic V
---@param t V[]
---@return fun(t: V[], i: integer): integer, V
---@return V[]
---@return integer
function ipairs(t) end

---Iterates over every key and value of a table.
---@generic K, V
---@param t table<K, V>
---@return fun(t: table<K, V>, k?: K): K, V
---@return table<K, V>
function pairs(t) end

---The key and value after key in t.
---@generic K, V
---@param t table<K, V>
---@param key? K
---@return K?
---@return V?
function next(t, key) end

---The arguments from the n-th on; select("#", ...) counts them.
---@param n integer|"#"
---@param ... any
---@return any
function select(n, ...) end

---Returns t[i]... t[j] (at most 8000 values).
---@param t table
---@param i? integer
---@param j? integer
---@return any ...
function unpack(t, i, j) end

---t[k] without metamethods.
---@param t table
---@param k any
---@return any
function rawget(t, k) end

---Sets t[k] without metamethods.
---@param t table
---@param k any
---@param v any
---@return table
function rawset(t, k, v) end

---Whether a and b are the same value, without metamethods.
---@param a any
---@param b any
---@return boolean
function rawequal(a, b) end

---The metatable of v, or its protected __metatable value.
---@param v any
---@return any
function getmetatable(v) end

---Sets the metatable of a table (not a protected one) and returns it.
---@generic T: table
---@param t T
---@param mt? table
---@return T
function setmetatable(t, mt) end

---Writes a line to the server log at info level.
---@param ... any
function print(...) end

---Runs name.lua from the scripts folder ("lib.util" is lib/util.lua) once per
---hook call and returns its result.
---@param name string
---@return any
function require(name) end

-- ===========================================================================
-- string (also the methods of strings: s:lower())
-- ===========================================================================

---@class stringlib
string = {}

---The byte values of s[i]... s[j].
---@param s string
---@param i? integer
---@param j? integer
---@return integer ...
function string.byte(s, i, j) end

---A string of the given byte values.
---@param ... integer
---@return string
function string.char(...) end

---The start and end of the first match and its captures, or nil.
---@param s string
---@param pattern string a Lua pattern (or plain text when plain is true)
---@param init? integer
---@param plain? boolean
---@return integer? start
---@return integer? end
---@return string ... captures
function string.find(s, pattern, init, plain) end

---Formats values with %d, %s, %.1f, %q, %x...
---@param fmt string
---@param ... any
---@return string
function string.format(fmt, ...) end

---An iterator over the matches (or their captures).
---@param s string
---@param pattern string
---@return fun(): string, ...
function string.gmatch(s, pattern) end

---The old (Lua 5.0) name of string.gmatch.
---@param s string
---@param pattern string
---@return fun(): string, ...
function string.gfind(s, pattern) end

---Replaces matches; returns the new string and the count.
---@param s string
---@param pattern string
---@param repl string|table|function
---@param n? integer
---@return string
---@return integer count
function string.gsub(s, pattern, repl, n) end

---The length in bytes.
---@param s string
---@return integer
function string.len(s) end

---s in lower case.
---@param s string
---@return string
function string.lower(s) end

---s in upper case.
---@param s string
---@return string
function string.upper(s) end

---The captures (or the whole match) of the first match, or nil.
---@param s string
---@param pattern string
---@param init? integer
---@return string? ...
function string.match(s, pattern, init) end

---s repeated n times.
---@param s string
---@param n integer
---@return string
function string.rep(s, n) end

---s with its bytes in reverse order.
---@param s string
---@return string
function string.reverse(s) end

---The bytes from i to j (negative counts from the end).
---@param s string
---@param i integer
---@param j? integer
---@return string
function string.sub(s, i, j) end

-- ===========================================================================
-- table
-- ===========================================================================

---@class tablelib
table = {}

---Joins the strings and numbers of t with sep.
---@param t (string|number)[]
---@param sep? string
---@param i? integer
---@param j? integer
---@return string
function table.concat(t, sep, i, j) end

---Inserts v at the end, or at pos: table.insert(t, v), table.insert(t, pos, v).
---@param t table
---@param pos integer
---@param v any
---@overload fun(t: table, v: any)
function table.insert(t, pos, v) end

---Removes and returns the last element (or the one at pos).
---@param t table
---@param pos? integer
---@return any
function table.remove(t, pos) end

---Sorts t in place, with < or less.
---@generic V
---@param t V[]
---@param less? fun(a: V, b: V): boolean
function table.sort(t, less) end

---The length of t.
---@param t table
---@return integer
function table.getn(t) end

---The largest positive number key of t, or 0.
---@param t table
---@return number
function table.maxn(t) end

-- ===========================================================================
-- math
-- ===========================================================================

---@class mathlib
---@field huge number infinity
---@field pi number
math = {}

---@param x number
---@return number
function math.abs(x) end

---@param x number
---@return integer
function math.ceil(x) end

---@param x number
---@return integer
function math.floor(x) end

---@param x number
---@param ... number
---@return number
function math.max(x, ...) end

---@param x number
---@param ... number
---@return number
function math.min(x, ...) end

---The remainder of x / y, with the sign of x.
---@param x number
---@param y number
---@return number
function math.fmod(x, y) end

---x % y, with the sign of y.
---@param x number
---@param y number
---@return number
function math.mod(x, y) end

---The integral and fractional parts of x.
---@param x number
---@return number
---@return number
function math.modf(x) end

---@param x number
---@return number
function math.sqrt(x) end

---@param x number
---@param y number
---@return number
function math.pow(x, y) end

---@param x number
---@return number
function math.exp(x) end

---The natural logarithm.
---@param x number
---@return number
function math.log(x) end

---@param x number
---@return number
function math.log10(x) end

---m and e such that x = m * 2^e.
---@param x number
---@return number m
---@return integer e
function math.frexp(x) end

---m * 2^e.
---@param m number
---@param e integer
---@return number
function math.ldexp(m, e) end

---@param x number radians
---@return number
function math.sin(x) end

---@param x number radians
---@return number
function math.cos(x) end

---@param x number radians
---@return number
function math.tan(x) end

---@param x number
---@return number radians
function math.asin(x) end

---@param x number
---@return number radians
function math.acos(x) end

---@param x number
---@return number radians
function math.atan(x) end

---@param y number
---@param x number
---@return number radians
function math.atan2(y, x) end

---@param x number
---@return number
function math.sinh(x) end

---@param x number
---@return number
function math.cosh(x) end

---@param x number
---@return number
function math.tanh(x) end

---Radians to degrees.
---@param x number
---@return number
function math.deg(x) end

---Degrees to radians.
---@param x number
---@return number
function math.rad(x) end

---A pseudo-random number in [0, 1), [1, m] or [m, n]; m must be >= 1 and
---n >= m.
---@param m? integer
---@param n? integer
---@return number
function math.random(m, n) end

---Meant to seed math.random; has no effect on this server.
---@param x integer
function math.randomseed(x) end

-- ===========================================================================
-- coroutine
-- ===========================================================================

---@class coroutinelib
coroutine = {}

---A new coroutine running f.
---@param f function
---@return thread
function coroutine.create(f) end

---Starts or continues co; true and what it yielded or returned, or false and
---the error.
---@param co thread
---@param ... any
---@return boolean success
---@return any ...
function coroutine.resume(co, ...) end

---Suspends the running coroutine, handing values to resume.
---@param ... any
---@return any ...
function coroutine.yield(...) end

---@param co thread
---@return "suspended"|"running"|"normal"|"dead"
function coroutine.status(co) end

---A function that resumes a new coroutine running f at each call.
---@param f function
---@return fun(...): ...
function coroutine.wrap(f) end

---The running coroutine, or nil in the main code.
---@return thread?
function coroutine.running() end
