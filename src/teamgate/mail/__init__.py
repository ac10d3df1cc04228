"""Email: messages, their templates, and the transports that deliver them (SMTP, or files).

``render`` builds a ``Message``; a ``Transport`` (``transport_for(settings)``) sends it or raises
``DeliveryError``, which says whether trying again later could help. The outbox decides when
to send and what to do about a failure."""
