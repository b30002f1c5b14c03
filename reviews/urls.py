"""Review pages under /reviews/ (namespace "reviews"), grouped by audience.

Reviewers: my_reviews, the review page (also the deep link of the launch mail), and the fragment
endpoints its rows post to. Security team (auditors read-only): templates and campaigns.
"""

from django.urls import path

from .views import campaigns, reviewer

app_name = "reviews"

urlpatterns = [
    # Reviewers
    path("", reviewer.my_reviews, name="my_reviews"),
    path("campaigns/<int:pk>/", reviewer.review, name="review"),
    path("campaigns/<int:pk>/bulk/", reviewer.bulk, name="bulk"),
    path("campaigns/<int:pk>/sign-off/", reviewer.sign_off, name="sign_off"),
    path("campaigns/<int:pk>/items/<int:item_pk>/", reviewer.item_row, name="item"),
    path("campaigns/<int:pk>/items/<int:item_pk>/decide/", reviewer.decide, name="decide"),
    path("campaigns/<int:pk>/items/<int:item_pk>/undo/", reviewer.undo, name="undo"),
    path("campaigns/<int:pk>/items/<int:item_pk>/comment/", reviewer.comment, name="comment"),
    # Security team
    path("all/", campaigns.campaign_list, name="campaigns"),
    path("all/<int:pk>/", campaigns.campaign_detail, name="campaign_detail"),
    path("all/<int:pk>/reassign/", campaigns.reassign, name="reassign"),
    path("all/<int:pk>/close/", campaigns.close, name="close"),
    path("templates/", campaigns.template_list, name="templates"),
    path("templates/new/", campaigns.template_create, name="template_create"),
    path("templates/preview/", campaigns.template_preview, name="template_preview"),
    path("templates/<int:pk>/", campaigns.template_edit, name="template_edit"),
    path("templates/<int:pk>/launch/", campaigns.launch, name="launch"),
]
