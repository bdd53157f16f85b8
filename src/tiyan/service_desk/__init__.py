"""The platform's service desk (平台客服): consumer requests, SLA clocks, callbacks, liability.

Pure values in, values out, like the rest of the core; the store keeps the requests and
their audit trail. So far: :mod:`tiyan.service_desk.clock`, the SLA clocks.
"""
