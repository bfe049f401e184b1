#!/usr/bin/env bash
# Fails a workflow clearly, before Pulumi runs, when the deploying service principal cannot sign
# in to the Databricks workspace as itself.
#
# The databricks provider signs in with `github-oidc-azure` in CI. That auth sends no
# X-Databricks-Azure-SP-Management-Token header, so it works only for a service principal that is
# already a member of the workspace; the identity that created the workspace is one (its admin).
# A workspace created by someone else (an administrator's own `pulumi up`) leaves the deploying
# service principal outside, and the first databricks resource fails mid-`up` with a bare 401/403.
#
#   DATABRICKS_HOST=https://adb-….azuredatabricks.net check-databricks-member.sh
#
# Reads AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE (the GitHub OIDC token),
# and AZURE_AUTHORITY_HOST (default https://login.microsoftonline.com). An empty DATABRICKS_HOST
# (no workspace yet: this run's `up` creates it, as this service principal) passes with a notice.
# Prints no token.
set -euo pipefail

host=${DATABRICKS_HOST:-}
host=${host%/}
if [ -z "$host" ]; then
    echo "::notice title=Databricks sign-in::no workspace yet: this run's pulumi up creates it as ${AZURE_CLIENT_ID:-the deploying identity}, which makes that service principal its admin"
    exit 0
fi
for name in AZURE_CLIENT_ID AZURE_TENANT_ID AZURE_FEDERATED_TOKEN_FILE; do
    if [ -z "${!name:-}" ]; then
        echo "::error title=Databricks sign-in::$name is not set: the job needs the deploying identity's client and tenant ids and the GitHub OIDC token file" >&2
        exit 1
    fi
done
authority=${AZURE_AUTHORITY_HOST:-https://login.microsoftonline.com}
authority=${authority%/}
# The Azure Databricks resource's application id (its Entra scope).
scope="2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
body=$(mktemp)
assertion=$(mktemp)
trap 'rm -f "$body" "$assertion"' EXIT
# The token file ends with a newline (jq -r); @azure/identity trims it, and so does this check.
tr -d ' \r\n' < "$AZURE_FEDERATED_TOKEN_FILE" > "$assertion"

status=$(curl -sS -o "$body" -w '%{http_code}' -X POST "$authority/$AZURE_TENANT_ID/oauth2/v2.0/token" \
    --data-urlencode "client_id=$AZURE_CLIENT_ID" \
    --data-urlencode "scope=$scope" \
    --data-urlencode "grant_type=client_credentials" \
    --data-urlencode "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
    --data-urlencode "client_assertion@$assertion") || status=000
if [ "$status" != 200 ]; then
    reason=$(jq -r '(.error // "") + (if .error_description then ": " + (.error_description | split("\n")[0] | split("\r")[0]) else "" end)' "$body" 2>/dev/null || true)
    echo "::error title=Databricks sign-in::Microsoft Entra ID gave $AZURE_CLIENT_ID no token for Azure Databricks (HTTP $status${reason:+: $reason}): check its federated credential for this job's subject" >&2
    exit 1
fi
token=$(jq -r '.access_token // empty' "$body")
if [ -z "$token" ]; then
    echo "::error title=Databricks sign-in::Microsoft Entra ID answered without an access token" >&2
    exit 1
fi

status=$(curl -sS -o "$body" -w '%{http_code}' -H "Authorization: Bearer $token" "$host/api/2.0/preview/scim/v2/Me") || status=000
case "$status" in
    200)
        echo "::notice title=Databricks sign-in::$AZURE_CLIENT_ID signs in to $host as itself"
        ;;
    401 | 403)
        echo "::error title=Databricks sign-in::the deploying service principal $AZURE_CLIENT_ID is not a member of the workspace $host (HTTP $status), so the databricks provider (github-oidc-azure, no SP management token) cannot sign in. The workspace was created by another identity. Add $AZURE_CLIENT_ID to the workspace as an admin (workspace Settings → Identity and access → Service principals → Add, then the admins group), or let the Deploy workflow make the first pulumi up of a new workspace. See the README, Bootstrap order." >&2
        exit 1
        ;;
    *)
        echo "::error title=Databricks sign-in::the workspace $host answered HTTP $status to a sign-in check (GET /api/2.0/preview/scim/v2/Me): is it the workspace URL, and is the workspace running?" >&2
        exit 1
        ;;
esac
