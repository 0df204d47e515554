"""moto's server, answering one request at a time.

moto's DynamoDB checks a ConditionExpression and then writes, with no lock
between the two, and its server runs each request on a thread of its own; so
two conditional PutItems that arrive together can, rarely, both succeed.
DynamoDB itself evaluates the condition and writes atomically. Serialising the
requests gives the tests DynamoDB's semantics. Same arguments as moto_server.
"""

import sys
import threading

import moto.server as server

_one_at_a_time = threading.Lock()
_call = server.DomainDispatcherApplication.__call__


def _serialised(self, environ, start_response):
    with _one_at_a_time:
        # Drain the response inside the lock: the backend may work lazily.
        return list(_call(self, environ, start_response))


server.DomainDispatcherApplication.__call__ = _serialised

if __name__ == "__main__":
    sys.exit(server.main(sys.argv[1:]))
