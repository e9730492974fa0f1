//! Sample messages: plain, multipart with an attachment, non-ASCII, large.

/// A plain ASCII message with `subject`, from `from`.
pub fn plain(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
Date: Mon, 4 Mar 2024 10:00:00 +0000\r\nMessage-ID: <{}@example.com>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.replace(' ', "-")
    )
    .into_bytes()
}

/// A multipart message: text and HTML alternatives and a PDF attachment
/// whose name tries to leave the download folder.
pub fn multipart() -> Vec<u8> {
    b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.com>\r\n\
To: alice@example.com, Bob <bob@example.com>\r\n\
Subject: =?UTF-8?B?R3LDvMOfZQ==?= with attachment\r\n\
Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n\
Message-ID: <multipart-1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello plain\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hello html</p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Disposition: attachment; filename=\"../../etc/report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n"
        .to_vec()
}

/// A message of about `bytes` bytes (a base64 attachment of that size).
pub fn large(bytes: usize) -> Vec<u8> {
    let mut out = b"From: big@example.com\r\nTo: alice@example.com\r\nSubject: large\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"L\"\r\n\r\n\
--L\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n\
--L\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\n\
Content-Disposition: attachment; filename=\"blob.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\r\n";
    while out.len() < bytes {
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(b"--L--\r\n");
    out
}
