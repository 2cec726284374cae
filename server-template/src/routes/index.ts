/** Every route module, in registration order (see ./route.ts). */
import { metaRoutes } from './meta.js';
import { predictRoutes } from './predict.js';
import type { RouteModule } from './route.js';
import { v1Routes } from './v1.js';
import { v2Routes } from './v2.js';

export const ROUTES: readonly RouteModule[] = [predictRoutes, v2Routes, v1Routes, metaRoutes];
