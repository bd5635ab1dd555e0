"""The component provider: hosts the package faces of the components for other languages.

Pulumi runs this directory's ``__main__.py`` as the plugin (``provider/PulumiPlugin.yaml``);
the schema is inferred from ``components/package.py`` (snapshot: ``provider/schema.json``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: components/

from pulumi.provider.experimental import component_provider_host

from components.package import COMPONENTS, PACKAGE, VERSION

if __name__ == "__main__":
    component_provider_host(COMPONENTS, PACKAGE, version=VERSION)
