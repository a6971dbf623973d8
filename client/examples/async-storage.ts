import AsyncStorage from '@react-native-async-storage/async-storage';
import { AppState } from 'react-native';
import { CbsaClient } from '@cbsa/client';
import { asyncStorageQueue, reconnectOnForeground } from '@cbsa/client/react-native';

export const cbsa = new CbsaClient({
  url: 'wss://api.example.com/ws/behaviour',
  storage: asyncStorageQueue(AsyncStorage),
});
// Back in the foreground: connect at once instead of waiting for the backoff.
reconnectOnForeground(cbsa, AppState);
