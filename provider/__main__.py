"""The aisb component provider: serves aisb's components to Pulumi programs in any language
(``pulumi package add``). Pulumi starts it; its schema is inferred from the components' Args."""

from pulumi.provider.experimental import component_provider_host

from aisb.plugin import COMPONENTS, NAME, version

if __name__ == "__main__":
    component_provider_host(components=COMPONENTS, name=NAME, version=version())
