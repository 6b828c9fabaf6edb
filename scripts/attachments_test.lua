-- Tests of attachments.lua: run with `sluice test scripts`.

local function run(t, opts)
  opts.script = "attachments.lua"
  opts.from = opts.from or "alice@example.org"
  opts.rcpt = opts.rcpt or {"bob@localhost"}
  return t.run(opts)
end

test("an executable attachment is refused at SMTP time", function(t)
  local r = run(t, {message = "testdata/invoice-exe.eml"})
  t.eq(r.verdict, "reject")
  t.eq(r.code, 550)
  t.eq(r.enhanced, "5.7.1")
  t.eq(r.text, "executable attachments are not accepted (invoice.pdf.EXE)")
  t.eq(r.stages[1].hook, "on_data")
end)

test("other attachments pass", function(t)
  local r = run(t, {message = "testdata/hello.eml"})
  t.eq(r.verdict, "accept")
  t.eq(#r.actions, 0)
end)

test("extensions are compared without case and trailing blanks", function(t)
  for _, name in ipairs({"setup.exe", "RUN.Bat", "x.js ", "disk.iso"}) do
    local r = run(t, {raw = table.concat({
      "Subject: files",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "--b",
      "Content-Type: text/plain",
      "",
      "see attached",
      "--b",
      'Content-Type: application/octet-stream; name="' .. name .. '"',
      'Content-Disposition: attachment; filename="' .. name .. '"',
      "",
      "data",
      "--b--",
      "",
    }, "\r\n")})
    t.eq(r.verdict, "reject", name)
  end
end)

test("a name that only contains exe passes", function(t)
  local r = run(t, {raw = "Subject: x\r\nMIME-Version: 1.0\r\n" ..
    'Content-Type: application/pdf; name="exe-manual.pdf"\r\n' ..
    'Content-Disposition: attachment; filename="exe-manual.pdf"\r\n\r\nx\r\n'})
  t.eq(r.verdict, "accept")
end)
