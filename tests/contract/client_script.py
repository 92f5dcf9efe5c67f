"""Uses a client generated from examples/agents' /openapi.json (by
openapi-python-client) against the running example: sign up, log in,
create, read, list, and clone from a template. Any step that does not
answer as the document says fails the script.

Usage: client_script.py <base url>  (with the generated `agents_client`
package importable).
"""

import sys
import uuid

from agents_client import AuthenticatedClient, Client
from agents_client.api.agent import create_agent, list_agents, read_agent
from agents_client.api.agent_template import clone_agent_template, create_agent_template
from agents_client.api.identity import login, me, register_user
from agents_client.models import (
    Agent,
    AgentCreate,
    AgentPage,
    AgentCloneOverrides,
    AgentTemplate,
    AgentTemplateCreate,
    AgentTemplateParams,
    Login,
    Me,
    TokenPair,
    User,
    UserCreate,
)


def expect(value, kind, step):
    if not isinstance(value, kind):
        sys.exit(f"{step}: expected {kind.__name__}, got {value!r}")
    return value


def main(base_url: str) -> None:
    email = f"client-{uuid.uuid4().hex[:12]}@example.com"
    password = "a generated client's password"
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    user = expect(register_user.sync(client=anonymous, body=UserCreate(email=email, password=password)), User, "sign up")
    tokens = expect(login.sync(client=anonymous, body=Login(email=email, password=password)), TokenPair, "log in")
    client = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
    caller = expect(me.sync(client=client), Me, "me")
    assert caller.id == user.id, (caller.id, user.id)

    created = expect(
        create_agent.sync(client=client, body=AgentCreate(name="scraper", config={"url": "https://example.com"})),
        Agent,
        "create",
    )
    assert created.owner_id == user.id and created.status == "idle", created
    read = expect(read_agent.sync(created.id, client=client), Agent, "read")
    assert read.name == "scraper" and read.config == {"url": "https://example.com"}, read

    page = expect(list_agents.sync(client=client, name="scraper"), AgentPage, "list")
    assert [agent.id for agent in page.items] == [created.id] and page.total == 1, page

    template = expect(
        create_agent_template.sync(
            client=client,
            body=AgentTemplateCreate(
                name="nightly",
                params=AgentTemplateParams.from_dict({"name": "nightly", "config": {"depth": 3}}),
            ),
        ),
        AgentTemplate,
        "create a template",
    )
    clone = expect(
        clone_agent_template.sync(template.id, client=client, body=AgentCloneOverrides.from_dict({"config": {"depth": 4}})),
        Agent,
        "clone",
    )
    assert clone.template_id == template.id and clone.name == "nightly" and clone.config == {"depth": 4}, clone
    print(f"generated client: signed up, logged in, created, read, listed and cloned ({clone.id})")


if __name__ == "__main__":
    main(sys.argv[1])
