// Starts the CLI compiled next to this file, as bin/egress-gateway does for dist/: lets the lab run
// the gateway from a helper's build folder as well as from dist/.
import { main } from '../../src/cli/main';

void main(process.argv);
