/** The renderer's entry: install the API client for this front door, then mount the app. */
import { createPinia } from 'pinia';
import { createApp } from 'vue';
import { installApiClient } from './api/api';
import { createApiClient } from './api/client';
import App from './app.vue';
import { useNoticeStore } from './stores/notice-store';
import './styles.css';

const client = createApiClient();
installApiClient(client);

const pinia = createPinia();
const app = createApp(App, { connection: client });
app.use(pinia);
// Anything a component did not handle shows as a banner, never as a blank page.
app.config.errorHandler = (error, _instance, info) => {
  useNoticeStore(pinia).unexpectedError(`Showing the lab (${info})`, error);
};
app.mount('#app');
