#!/bin/sh
# Stands in for `aws iam update-user` while another writer holds the user:
# fails twice with the AWS CLI's ConcurrentModification message and exit 255,
# then succeeds. retry-on tells it which attempt this is in RETRY_ON_ATTEMPT.
if [ "${RETRY_ON_ATTEMPT:-1}" -le 2 ]; then
    echo "An error occurred (ConcurrentModification) when calling the UpdateUser operation: The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again." >&2
    exit 255
fi
echo "updated user alice: path /ops/"
