"""Security headers every response carries."""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Send the site's Content-Security-Policy (settings.CONTENT_SECURITY_POLICY) on every response.

    The policy allows no inline script or style: pages load their CSS and JavaScript from /static/,
    so a synced name that slipped past escaping still could not run. A view that needs a different
    policy sets the header itself and is left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
