"""The books of an SMTP case's message tokens: sent (on the wire inside a message), completed
(the server's 250 after the end of data, or after BDAT LAST), refused (any other answer there),
unanswered (the end of data went out and no answer came, or none that can be trusted: the caller
must count those as maybe delivered).

An answer cannot be trusted once the replies may be out of step with the commands: after the
server stayed silent where a reply was due (it may come late and be read as the next one), or
sent a 354 to something that was not DATA. From then on the case's verdicts are *doubtful*
and its tokens land in unanswered, never in completed or refused.

The one rule that ties replies to tokens: the reply after a 354 ends the data, and concludes the
next token in wire order. That holds for a normal DATA, for a body pipelined behind its DATA, and
for a message smuggled inside another, which a lenient server ends early and then takes the
smuggled MAIL, RCPT, DATA and message as a second transaction.
"""

from __future__ import annotations

__all__ = ["Ledger"]


class Ledger:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.completed: list[str] = []
        self.refused: list[str] = []
        self._ended: list[str] = []
        self._queue: list[str] = []
        self._doubtful: list[str] = []
        self.in_doubt = False
        #: the last reply was a 354: the server reads message data now
        self.data_open = False

    def _sent(self, tokens: tuple[str, ...]) -> None:
        self.sent += [t for t in tokens if t not in self.sent]

    def body(self, tokens: tuple[str, ...], *, final: bool) -> None:
        """A BODY piece went out. In data mode its first token waits for the end-of-data reply,
        the smuggled ones after it; outside it, the body was read as commands: no message."""
        self._sent(tokens)
        if not self.data_open:
            self._refuse(tokens[0])
            return
        self._queue = list(tokens) if final else []
        if final:
            self._ended.append(tokens[0])

    def bdat(self, tokens: tuple[str, ...], *, final: bool) -> None:
        self._sent(tokens)
        if final:
            self._ended.append(tokens[0])

    def bdat_reply(self, token: str, code: int) -> None:
        """The reply to BDAT ... LAST."""
        if code == 250:
            self._complete(token)
        else:
            self._refuse(token)

    def observe(self, code: int) -> str | None:
        """Every reply passes here; returns the token it concluded, if any."""
        if self.data_open:
            self.data_open = False
            token = self._queue.pop(0) if self._queue else None
            if token is not None:
                if code == 250:
                    self._complete(token)
                else:
                    self._refuse(token)
            return token
        if code == 354:
            self.data_open = True
        return None

    def settle(self) -> None:
        """A body's replies are all read: smuggled tokens no reply concluded stay plain text."""
        self._queue.clear()

    def doubt(self) -> None:
        """Replies may be out of step from here on: no verdict of this case is firm."""
        self.in_doubt = True

    def _complete(self, token: str) -> None:
        if self.in_doubt:
            self._doubtful.append(token)
        elif token not in self.completed:
            self.completed.append(token)

    def _refuse(self, token: str) -> None:
        if self.in_doubt:
            self._doubtful.append(token)
        elif token not in self.refused and token not in self.completed:
            self.refused.append(token)

    @property
    def unanswered(self) -> list[str]:
        done = set(self.completed) | set(self.refused)
        maybe = [t for t in self._ended if t not in done] + self._doubtful
        return list(dict.fromkeys(maybe))
