"""The aisb component provider: serves aisb's components to Pulumi programs in any language
(``pulumi package add``). Pulumi starts it with the engine's address; its schema is inferred
from the components' Args (``aisb.plugin.AisbProvider``)."""

import sys

from pulumi.provider import main

from aisb.plugin import AisbProvider

if __name__ == "__main__":
    main(AisbProvider(), sys.argv[1:])
