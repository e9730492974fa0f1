"""schemathesis hooks for the RustyMail API: raw RFC 822 message bodies.

POST /api/v1/folders/{name}/emails takes a message as `message/rfc822`,
which schemathesis cannot serialize on its own. Generated values are sent
as their UTF-8 bytes, so the append route is exercised too.
"""

import schemathesis


@schemathesis.serializer("message/rfc822")
def rfc822(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
