---@meta sluice-test

-- Definitions of the Lua API of sluice test files (*_test.lua, run by
-- `sluice test`) for lua-language-server (LuaLS): the global test and the t
-- object its functions get. Test files also have everything stage scripts
-- have (docs/sluice.meta.lua); stage scripts have none of this.
--
-- docs/lua-api.md ("Testing rules") is the reference;
-- engine/testapi_doc_test.go checks that both name exactly what a test file
-- can reach. See "Editor support" in docs/lua-api.md for the .luarc.json.
--
-- test's function gets t typed without an annotation:
--
--   test("a virus is refused", function(t)
--     local r = t.run({script = "antivirus.lua", message = "testdata/infected.eml"})
--     t.eq(r.verdict, "reject")
--   end)

-- ===========================================================================
-- test
-- ===========================================================================

---Registers a test: fn(t) runs once the file has loaded, in the order of
---the file, with its own deadline. Call it at the top level of the file
---only; the name must be non-empty and unique in the file.
---@param name string
---@param fn fun(t: sluice.T)
function test(name, fn) end

-- ===========================================================================
-- t
-- ===========================================================================

---What a test function gets: runs the pipeline on fixture messages, replaces
---filters and asserts. A failed assertion ends the test. Every function may
---also be called with a colon (t:eq(a, b)).
---@class sluice.T
---@field name string the name of the running test
local T = {}

---Runs the stages (or one script) on a message through every hook the
---server would run (on_connect and on_helo when a stage has them, on_mail,
---on_rcpt for each recipient, on_data, on_queue), as a dry run unless
---opts.commit, and returns what `sluice run --json` prints. Raises when a
---script does not compile, the configuration does not load or a filter it
---needs cannot be built.
---@param opts sluice.TestRunOptions
---@return sluice.TestResult
function T.run(opts) end

---From now on in this test, the filter name does not run but answers every
---plugin.scan with answer; t.filter(name, nil) brings the configured one
---back.
---@param name string the [filter.NAME] to replace (or a new one)
---@param answer sluice.FilterAnswer?
function T.filter(name, answer) end

---Runs a statement on the test's throw-away copy of [database.NAME] (its
---init file applied) and returns its rows and column names.
---@param db string the NAME of [database.NAME]
---@param sql string
---@param ... string|number|boolean|nil the values of the ? placeholders
---@return table<string, any>[] rows
---@return string[] columns
function T.query(db, sql, ...) end

---Fails unless got equals want; tables are compared by content,
---recursively (metatables ignored).
---@param got any
---@param want any
---@param message? string put before the failure
function T.eq(got, want, message) end

---Fails when got equals other (compared as t.eq does).
---@param got any
---@param other any
---@param message? string put before the failure
function T.ne(got, other, message) end

---Fails when v is nil or false.
---@param v any
---@param message? string put before the failure
function T.ok(v, message) end

---Fails unless the string haystack contains the string needle (plain text,
---not a pattern), or the table haystack has a value that matches needle: an
---equal value or, for a table needle, a table with at least its fields.
---@param haystack string|table
---@param needle any
---@param message? string put before the failure
function T.contains(haystack, needle, message) end

---Fails unless s is a string that matches the Lua pattern.
---@param s string
---@param pattern string
---@param message? string put before the failure
function T.match(s, pattern, message) end

---Fails the test now ("failed" when no message is given).
---@param message? string
function T.fail(message) end

---Adds a line with its arguments and the caller's file:line to the test's
---log (printed for a failed test, for all with -v).
---@param ... any
function T.log(...) end

-- ===========================================================================
-- The options of t.run
-- ===========================================================================

---What t.run takes: message or raw is required; unknown keys raise. Paths
---are relative to the test file's folder.
---@class sluice.TestRunOptions
---@field script? string the one script to run, as the only stage; excludes config
---@field config? string the configuration whose pipeline to run (default: --config, else sluice.toml beside the test file or one folder up, else the default scripts)
---@field message? string a file holding the raw message; excludes raw
---@field raw? string the raw message; excludes message
---@field from? string the envelope sender, tx.from and msg.from (default "sender@example.org")
---@field rcpt? string|string[] the envelope recipients, each asked for in on_rcpt (default "postmaster@localhost")
---@field client? string the SMTP client's address, an IP or "ip:port" ("[v6]:port"); default "127.0.0.1:0"
---@field helo? string the HELO/EHLO name, conn.helo and msg.helo (default "")
---@field vars? table<string, any> msg.vars when the pipeline starts
---@field commit? boolean do the side effects on the test's throw-away stores instead of recording them

-- ===========================================================================
-- The answer of t.filter
-- ===========================================================================

---What a filter replaced by t.filter answers: the fields of plugin.scan's
---result as the script will see them. Unknown keys raise.
---@class sluice.FilterAnswer
---@field verdict? "clean"|"infected"|"spam"|"ham"|"error"|"timeout"|"disabled" default "clean", or "error" when error is set
---@field name? string what the filter found (r.name)
---@field score? number r.score
---@field threshold? number r.threshold
---@field symbols? string|string[] r.symbols
---@field log? string|string[] r.log, also logged as the filter's lines
---@field error? string why the scan failed (r.error); makes the verdict "error" unless one is given
---@field modified? string the rewritten message, which replaces the message for the later stages
---@field on_error? "tempfail"|"accept"|"reject"|"quarantine" default: the configured filter's
---@field breaker? boolean true: skipped by an open circuit breaker (verdict "disabled", on_error applies)

-- ===========================================================================
-- The result of t.run (the fields of `sluice run --json`)
-- ===========================================================================

---What t.run returns. A field that `sluice run --json` leaves out is nil.
---A refusal by on_connect, on_helo or on_mail (or by on_rcpt of every
---recipient) ends the run with its verdict.
---@class sluice.TestResult
---@field verdict "accept"|"reject"|"tempfail"|"discard"|"quarantine" the final verdict ("accept" when no stage decided)
---@field code integer the SMTP reply code
---@field enhanced string the enhanced status code, "2.0.0", "5.7.1" …
---@field text string the reply text, or the reason of a quarantine
---@field stages sluice.TestStage[] every hook call, in order
---@field score number the total of the msg:score calls
---@field symbols sluice.TestSymbol[] the scores added, in order
---@field actions sluice.TestAction[] what the scripts asked to be done, in order
---@field headers sluice.TestHeaders the header edits
---@field defects string[]? the problems found while parsing the message; nil when none
---@field rcpt_refused sluice.TestRefusal[]? the recipients on_rcpt refused, in envelope order; nil when none

---An entry of result.stages: one hook call.
---@class sluice.TestStage
---@field name string the stage's name
---@field hook "on_connect"|"on_helo"|"on_mail"|"on_rcpt"|"on_data"|"on_queue"
---@field verdict "continue"|"accept"|"reject"|"tempfail"|"discard"|"quarantine" what the hook decided ("continue": nothing)
---@field ms number how long the call took, in milliseconds
---@field error string? the hook's error with the script's file:line
---@field policy string? the on_error policy applied when the hook failed

---An entry of result.symbols: one msg:score.
---@class sluice.TestSymbol
---@field name string the symbol
---@field points number the points it added
---@field why string? the reason given
---@field stage string the stage that scored it

---An entry of result.actions; a field that does not apply to the kind is nil.
---@class sluice.TestAction
---@field kind string "fileinto", "redirect", "add_rcpt", "remove_rcpt", "replace_part", "remove_part", "prepend_text", "rewrite", "create", "deliver", "quarantine", "sql", "kv.set", "kv.incr" or "kv.delete"
---@field folder string? the folder (fileinto, create, deliver)
---@field address string? the address (redirect, add_rcpt, remove_rcpt, create, deliver)
---@field part integer? the part's index (replace_part, remove_part); nil for the first part, index 0
---@field reason string? the SQL statement, the kv key, the quarantine reason or the rewriting filter
---@field id string? what the action made: the quarantine id (with commit)
---@field stage string? the stage that asked for it
---@field done boolean? true for a mailbox action done at once (with commit)

---An entry of result.rcpt_refused: a recipient refused at RCPT time.
---@class sluice.TestRefusal
---@field rcpt string the recipient
---@field verdict "reject"|"tempfail"
---@field code integer the SMTP reply code the client got
---@field enhanced string the enhanced status code of the reply
---@field text string the text of the reply
---@field stage string the stage that refused it

---result.headers: the header edits.
---@class sluice.TestHeaders
---@field added [string, string][] the fields added, in order, as {name, value}
---@field removed string[] the names of the fields removed or replaced, each once
